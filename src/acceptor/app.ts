/**
 * The app: the route table and the operational endpoints, on whichever front serves (uWS or
 * node:http, see front.ts). Routes resolve the destination by name from the config snapshot (an
 * object built once per load); everything else is delegated.
 */
import { isServedName } from '../config/served.js';
import { ErrorCode } from '../errors.js';
import { detailsAllowed, detailsPolicy, handleAdminSessions, healthBody, writeDetailsDenied } from './admin.js';
import type { Core } from './core.js';
import { remoteAddress, writeError, writeResponse } from './http-util.js';
import { handleSseMessage, handleSseOpen } from './legacy-sse.js';
import { applyCors, writePreflight } from './cors.js';
import { originAllowed } from './origin.js';
import type { Front, HttpApp, HttpRequest, HttpResponse } from './http-types.js';
import { handleDelete, handleGet, handlePost } from './streamable-http.js';

type Handler = (core: Core, dest: string, res: HttpResponse, req: HttpRequest) => void;

export function buildApp(core: Core, front: Front, health: () => Record<string, unknown>): HttpApp {
  const app = front.createApp();

  const unknownDestination = (res: HttpResponse, name: string): void => {
    writeResponse(res, 404, 'application/json', JSON.stringify({ error: 'unknown destination', destination: name }));
  };
  /**
   * The checks every destination route shares, in order: shutting down, unknown destination,
   * Origin (403 for a foreign browser origin; CORS headers for an allowed one). False: answered.
   */
  const admit = (res: HttpResponse, req: HttpRequest, name: string): boolean => {
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
    if (!isServedName(core.config, name)) {
      unknownDestination(res, name);
      return false;
    }
    return true;
  };
  const route = (handler: Handler) => (res: HttpResponse, req: HttpRequest): void => {
    const name = req.getParameter(0);
    if (admit(res, req, name)) handler(core, name, res, req);
  };
  const notAllowed = (allow: string) => (res: HttpResponse, req: HttpRequest): void => {
    const name = req.getParameter(0);
    if (admit(res, req, name)) writeError(res, ErrorCode.MethodNotAllowed, `method not allowed; use ${allow}`, null, { allow });
  };
  /** OPTIONS from a browser is a CORS preflight; without Origin it is just a wrong method. */
  const preflight = (allow: string) => (res: HttpResponse, req: HttpRequest): void => {
    const origin = req.getHeader('origin');
    if (!origin) return notAllowed(allow)(res, req);
    if (admit(res, req, req.getParameter(0))) writePreflight(res);
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

  // Operational details per admin.expose_metrics (admin.ts); `false`: no client auth in this build yet.
  const details = (res: HttpResponse, req: HttpRequest): boolean =>
    detailsAllowed(detailsPolicy(core.config.admin, false), remoteAddress(res), req.getHeader('authorization'));
  app.get('/admin/sessions', (res, req) => handleAdminSessions(core, res, req, false));
  app.get('/healthz', (res, req) => {
    writeResponse(res, 200, 'application/json', healthBody(core, health, details(res, req)));
  });
  app.get('/metrics', (res, req) => {
    if (!details(res, req)) return writeDetailsDenied(res, detailsPolicy(core.config.admin, false));
    const st = { aborted: false };
    res.onAborted(() => {
      st.aborted = true;
    });
    void core.metrics.text().then((text) => {
      if (!st.aborted) res.cork(() => writeResponse(res, 200, core.metrics.contentType, text));
    });
  });
  app.any('/*', (res, req) => {
    writeResponse(res, 404, 'application/json', JSON.stringify({ error: 'not found', path: req.getUrl() }));
  });
  return app;
}
