/**
 * The app: the route table and the operational endpoints, on whichever front serves (uWS or
 * node:http, see front.ts). Routes resolve the destination by name from the config snapshot (an
 * object built once per load); everything else is delegated.
 */
import { isServedName } from '../config/served.js';
import { ErrorCode } from '../errors.js';
import { detailsAllowed, detailsPolicy, handleAdminSessions, healthBody, writeDetailsDenied } from './admin.js';
import type { Core } from './core.js';
import { writeUnknownDestination } from './auth-gate.js';
import { remoteAddress, writeError, writeResponse } from './http-util.js';
import { handleSseMessage, handleSseOpen } from './legacy-sse.js';
import { applyCors, writePreflight } from './cors.js';
import { refuseForeignHost } from './host-check.js';
import { originAllowed } from './origin.js';
import { WELL_KNOWN } from '../auth/challenge.js';
import type { Front, HttpApp, HttpRequest, HttpResponse } from './http-types.js';
import { handleDelete, handleGet, handlePost } from './streamable-http.js';

type Handler = (core: Core, dest: string, res: HttpResponse, req: HttpRequest) => void;

export function buildApp(core: Core, front: Front, health: () => Record<string, unknown>): HttpApp {
  const app = front.createApp();

  /**
   * The checks every destination route shares, in order: Origin (403 for a foreign browser
   * origin; CORS headers for an allowed one), shutting down, and unknown destination when
   * `checkName` (the routed handlers check it themselves, after authentication: auth-gate.ts).
   * False: answered.
   */
  const admit = (res: HttpResponse, req: HttpRequest, name: string, checkName: boolean): boolean => {
    // DNS rebinding: a page on an attacker's name that resolves to us sends that name as Host.
    const hostRefused = refuseForeignHost(res, req, core.config);
    if (hostRefused !== 0) {
      core.logExchange(name, undefined, req.getMethod(), hostRefused, Date.now(), ErrorCode.ForbiddenHost);
      return false;
    }
    const origin = req.getHeader('origin');
    if (origin) {
      if (!originAllowed(origin, core.config.allowedOrigins)) {
        const status = writeError(res, ErrorCode.ForbiddenOrigin, `Origin ${origin} is not allowed (allowed_origins)`);
        core.logExchange(name, undefined, req.getMethod(), status, Date.now(), ErrorCode.ForbiddenOrigin);
        return false;
      }
      applyCors(res, origin);
    }
    if (core.shuttingDown) {
      writeError(res, ErrorCode.ShuttingDown, 'proxy is shutting down');
      return false;
    }
    if (checkName && !isServedName(core.config, name)) {
      writeUnknownDestination(res, name);
      return false;
    }
    return true;
  };
  const route = (handler: Handler) => (res: HttpResponse, req: HttpRequest): void => {
    const name = req.getParameter(0);
    if (admit(res, req, name, false)) handler(core, name, res, req);
  };
  // With client auth on, answers that carry no credentials (405, preflights: browsers send none)
  // are the same for every name, so they cannot be used to list destinations.
  const nameVisible = (): boolean => !core.auth.enabled;
  const notAllowed = (allow: string) => (res: HttpResponse, req: HttpRequest): void => {
    const name = req.getParameter(0);
    if (admit(res, req, name, nameVisible())) writeError(res, ErrorCode.MethodNotAllowed, `method not allowed; use ${allow}`, null, { allow });
  };
  /** OPTIONS from a browser is a CORS preflight (not authenticated); without Origin it is just a wrong method. */
  const preflight = (allow: string) => (res: HttpResponse, req: HttpRequest): void => {
    const origin = req.getHeader('origin');
    if (!origin) return notAllowed(allow)(res, req);
    const requested = req.getHeader('access-control-request-headers');
    if (admit(res, req, req.getParameter(0), nameVisible())) writePreflight(res, requested);
  };

  app.post('/:name/mcp', route(handlePost));
  app.get('/:name/mcp', route(handleGet));
  app.del('/:name/mcp', route(handleDelete));
  app.options('/:name/mcp', preflight('GET, POST, DELETE'));
  app.any('/:name/mcp', notAllowed('GET, POST, DELETE'));
  app.get('/:name/sse', route(handleSseOpen));
  app.options('/:name/sse', preflight('GET'));
  app.any('/:name/sse', notAllowed('GET'));
  app.post('/:name/message', route(handleSseMessage));
  app.options('/:name/message', preflight('POST'));
  app.any('/:name/message', notAllowed('POST'));

  // Operational details per admin.expose_metrics (admin.ts): loopback-only by default when client auth is on.
  const details = (res: HttpResponse, req: HttpRequest): boolean =>
    detailsAllowed(detailsPolicy(core.config.admin, core.auth.enabled), remoteAddress(res), req.getHeader('authorization'));
  app.get('/admin/sessions', (res, req) => handleAdminSessions(core, res, req, core.auth.enabled));
  // RFC 9728 protected resource metadata (404 unless auth.jwt is set); public, like a login page.
  const metadata = (res: HttpResponse, req: HttpRequest): void => {
    const m = core.auth.metadata(req.getUrl());
    writeResponse(res, m.status, null, m.body, m.headers);
  };
  app.get(WELL_KNOWN, metadata);
  app.get(`${WELL_KNOWN}/*`, metadata);
  app.get('/healthz', (res, req) => {
    if (refuseForeignHost(res, req, core.config) !== 0) return;
    writeResponse(res, 200, 'application/json', healthBody(core, health, details(res, req)));
  });
  app.get('/metrics', (res, req) => {
    if (refuseForeignHost(res, req, core.config) !== 0) return;
    if (!details(res, req)) return writeDetailsDenied(res, detailsPolicy(core.config.admin, core.auth.enabled));
    const st = { aborted: false };
    res.onAborted(() => {
      st.aborted = true;
    });
    void core.metrics.text().then((text) => {
      if (!st.aborted) res.cork(() => writeResponse(res, 200, core.metrics.contentType, text));
    });
  });
  app.any('/*', (res, req) => {
    if (refuseForeignHost(res, req, core.config) !== 0) return;
    writeResponse(res, 404, 'application/json', JSON.stringify({ error: 'not found', path: req.getUrl() }));
  });
  return app;
}
