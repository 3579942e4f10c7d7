// Lets go of a large buffer's memory when the code is done with it, not at V8's next full GC.
// A buffer that lived through a few scavenges (the state file, read whole and decoded in tens of
// ms) sits in the old generation, and its bytes, outside the heap, stay allocated until a
// mark-compact finds it dead: in a one-shot run over 100,000 files that came after the run's peak
// or never, so about half the runs peaked 24 MB higher (the 23 MB state file) than the others.
// Moving the bytes into a fresh ArrayBuffer (structuredClone with a transfer) is not enough: while
// V8 marks incrementally, a new buffer's memory counts as live until the next full GC.

/**
 * Frees `buf`'s bytes at the next turn of the event loop, whatever the GC does: they are moved
 * (transferred, not copied) into a message on a MessageChannel whose ports are closed at once, and
 * the message dies with them. `buf` (and every view of its memory) is empty afterwards, so call it
 * only once nothing reads them. A buffer that shares its memory (a slice, Node's small-buffer pool)
 * or cannot be transferred is left as it is.
 */
export function releaseBuffer(buf: Uint8Array): void {
  releaseBuffers([buf]);
}

/**
 * releaseBuffer for many buffers through one channel (a batch of uploaded file contents: one
 * channel per batch, not per file). Buffers that share memory are left as they are; so is every
 * buffer of the batch when one cannot be transferred (V8 then frees them in its own time).
 */
export function releaseBuffers(bufs: Iterable<Uint8Array>): void {
  const whole = new Set<ArrayBuffer>();
  for (const buf of bufs) {
    const ab = buf.buffer;
    if (ab instanceof ArrayBuffer && buf.byteOffset === 0 && buf.byteLength === ab.byteLength && ab.byteLength > 0) whole.add(ab);
  }
  if (whole.size === 0) return;
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(null, [...whole]);
  } catch {
    // Not transferable (Node marks some): V8 frees them in its own time.
  } finally {
    port1.close();
    port2.close();
  }
}
