/**
 * Optional preload for the proxy under test (`node --import .../post-counter.js`, with
 * MITHRIL_BENCH_POSTS_DIR set): counts postMessage calls and the characters of string messages per
 * thread, by wrapping MessagePort.prototype.postMessage in each thread (Worker#postMessage and
 * parentPort.postMessage both end there). The counts are rewritten to DIR/posts-<threadId>.json every
 * 200 ms, so a reader can take them before and after a load window without the thread's help.
 * Measures how well the per-turn batching of src/threads/messages.ts amortises its wake-ups; it adds
 * a function call per message, so take throughput numbers from runs without it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MessagePort, threadId } from 'node:worker_threads';

export interface PostCounts {
  threadId: number;
  posts: number;
  stringPosts: number;
  chars: number;
}

const dir = process.env.MITHRIL_BENCH_POSTS_DIR;
if (dir !== undefined && dir.length > 0) {
  const counts: PostCounts = { threadId, posts: 0, stringPosts: 0, chars: 0 };
  const proto = MessagePort.prototype as unknown as { postMessage: (this: MessagePort, ...a: unknown[]) => void };
  const original = proto.postMessage;
  proto.postMessage = function (this: MessagePort, ...a: unknown[]): void {
    counts.posts++;
    if (typeof a[0] === 'string') {
      counts.stringPosts++;
      counts.chars += a[0].length;
    }
    original.apply(this, a);
  };
  const file = join(dir, `posts-${threadId}.json`);
  setInterval(() => writeFileSync(file, JSON.stringify(counts)), 200).unref();
}
