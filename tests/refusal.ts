/** The error a promise must be refused with, checked to be of the expected family. */
export async function refusal<E extends Error>(
  p: Promise<unknown>,
  family: new (...args: never[]) => E,
): Promise<E> {
  try {
    await p;
  } catch (e) {
    if (e instanceof family) return e;
    throw e;
  }
  throw new Error(`expected a refusal (${family.name}), got an answer`);
}
