// Writes a tar stream (entries `user/path`) from stored entries, streaming each blob in turn.
import { Readable } from 'node:stream';
import { Header, Pax } from 'tar';

/** One entry to write. */
export interface TarOutItem {
  name: string;
  kind: 'file' | 'symlink';
  mode: number;
  /** ms since the epoch */
  mtime: number;
  size: number;
  target?: string;
  /** Opens the content (files only). */
  open?: () => Promise<AsyncIterable<Buffer>>;
}

function headerBlocks(item: TarOutItem): Buffer {
  const data = {
    path: item.name,
    mode: item.kind === 'symlink' ? 0o777 : item.mode,
    size: item.kind === 'file' ? item.size : 0,
    mtime: new Date(item.mtime),
    type: item.kind === 'file' ? ('File' as const) : ('SymbolicLink' as const),
    linkpath: item.target,
    uid: 0, gid: 0,
  };
  const h = new Header(data);
  const block = Buffer.alloc(512);
  const needPax = h.encode(block, 0);
  if (!needPax) return block;
  const pax = new Pax({ path: item.name, linkpath: item.target, mtime: data.mtime, size: data.size, mode: data.mode }).encode();
  return Buffer.concat([pax, block]);
}

/** Returns a readable tar of the items, streaming each file's content. */
export function writeTar(items: AsyncIterable<TarOutItem> | Iterable<TarOutItem>): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    for await (const item of items) {
      yield headerBlocks(item);
      if (item.kind !== 'file' || !item.open) continue;
      let n = 0;
      for await (const chunk of await item.open()) {
        n += chunk.length;
        yield chunk;
      }
      if (n !== item.size) throw new Error(`blob for ${item.name} had ${n} bytes, expected ${item.size}`);
      const pad = (512 - (n % 512)) % 512;
      if (pad) yield Buffer.alloc(pad);
    }
    yield Buffer.alloc(1024);
  }
  return Readable.from(gen(), { objectMode: false });
}
