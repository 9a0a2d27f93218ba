/** Prints `rows` as a table: the first row a header underlined, the first column left-aligned. */
export function printTable(rows: readonly (readonly string[])[]): void {
  const widths =
    rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length))) ?? [];
  for (const [i, r] of rows.entries()) {
    console.log(
      r
        .map((cell, c) =>
          c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number),
        )
        .join('  '),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
