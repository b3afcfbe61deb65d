export async function dev(_argv: readonly string[]): Promise<number> {
  return 2;
}
