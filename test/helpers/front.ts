/** Which HTTP front a proxy started by this test process serves on (MITHRIL_FRONT or auto). */
import { chooseFront } from '../../src/acceptor/front.js';

export function expectedFront(): 'uws' | 'node' {
  return chooseFront().front.kind;
}
