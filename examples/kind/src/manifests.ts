import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseManifestText } from '@podnet/cluster-state';
import ts from 'typescript';

/** One Kubernetes object read from a manifest file. */
export interface ManifestDoc {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** A problem found in a manifest: which document, which field, what is wrong. */
export interface ManifestProblem {
  readonly doc: string;
  readonly path: string;
  readonly message: string;
}

/**
 * Reads every document of a manifest file with `@podnet/cluster-state`'s parser (YAML or JSON;
 * empty documents are dropped); a document that does not parse is an error naming the file and
 * the document.
 */
export function loadManifests(file: string): ManifestDoc[] {
  const out: ManifestDoc[] = [];
  const parsed = parseManifestText(readFileSync(file, 'utf8'), { file });
  for (const d of parsed) {
    if (d.error !== undefined) throw new Error(`${file}: document ${d.document}: ${d.error}`);
    if (d.value) out.push(d.value as ManifestDoc);
  }
  return out;
}

const docName = (d: ManifestDoc) =>
  `${d.kind}/${d.metadata?.namespace ? `${d.metadata.namespace}/` : ''}${d.metadata?.name ?? '?'}`;

function modelPath(d: ManifestDoc): string {
  return `kubernetes-models/${d.apiVersion}/${d.kind}`;
}

/** Validates each document against its Kubernetes schema (kubernetes-models' validators). */
export async function validateSchemas(docs: readonly ManifestDoc[]): Promise<ManifestProblem[]> {
  const problems: ManifestProblem[] = [];
  for (const d of docs) {
    let Model: new (data: unknown) => { validate(): void };
    try {
      const mod = (await import(modelPath(d))) as Record<string, typeof Model>;
      Model = mod[d.kind]!;
      if (!Model) throw new Error('no model');
    } catch {
      problems.push({
        doc: docName(d),
        path: '',
        message: `unknown kind ${d.apiVersion} ${d.kind}`,
      });
      continue;
    }
    try {
      new Model(d).validate();
    } catch (e) {
      const errs = (e as { errors?: { instancePath: string; message?: string }[] }).errors ?? [];
      if (errs.length === 0) problems.push({ doc: docName(d), path: '', message: String(e) });
      for (const err of errs) {
        problems.push({
          doc: docName(d),
          path: err.instancePath,
          message: err.message ?? 'invalid',
        });
      }
    }
  }
  return problems;
}

/** Renders a value as a TypeScript literal, one property per line, noting each line's JSON path. */
function renderLiteral(
  value: unknown,
  path: string,
  indent: string,
  lines: string[],
  paths: string[],
) {
  const push = (text: string, p: string) => {
    lines.push(text);
    paths.push(p);
  };
  if (Array.isArray(value)) {
    push(`${indent}[`, path);
    value.forEach((v, i) => {
      renderLiteral(v, `${path}/${i}`, `${indent}  `, lines, paths);
      lines[lines.length - 1] += ',';
    });
    push(`${indent}]`, path);
  } else if (value && typeof value === 'object') {
    push(`${indent}{`, path);
    for (const [k, v] of Object.entries(value)) {
      const p = `${path}/${k}`;
      if (v && typeof v === 'object') {
        push(`${indent}  ${JSON.stringify(k)}:`, p);
        renderLiteral(v, p, `${indent}  `, lines, paths);
        lines[lines.length - 1] += ',';
      } else {
        push(`${indent}  ${JSON.stringify(k)}: ${JSON.stringify(v)},`, p);
      }
    }
    push(`${indent}}`, path);
  } else {
    push(`${indent}${JSON.stringify(value)}`, path);
  }
}

/**
 * Rejects fields the Kubernetes schemas do not define (the schema validators accept them):
 * each document is type-checked as a fresh object literal against its kubernetes-models
 * interface, so TypeScript's excess-property check finds typos at any depth.
 */
export function checkUnknownFields(docs: readonly ManifestDoc[]): ManifestProblem[] {
  const all: ManifestProblem[] = [];
  let current = structuredClone(docs) as ManifestDoc[];
  for (let round = 0; round < 20; round++) {
    const found = checkOnce(current);
    all.push(...found.problems);
    if (found.problems.length === 0 || found.unknown.length === 0) break;
    current = structuredClone(current);
    for (const { doc, path } of found.unknown) deletePath(current[doc]!, path);
  }
  return all;
}

function deletePath(root: unknown, path: string): void {
  const keys = path.split('/').slice(1);
  let node = root as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
  delete node[keys[keys.length - 1]!];
}

function checkOnce(docs: readonly ManifestDoc[]): {
  problems: ManifestProblem[];
  unknown: { doc: number; path: string }[];
} {
  const require = createRequire(import.meta.url);
  const modelsDir = dirname(require.resolve('kubernetes-models/package.json'));
  const dir = mkdtempSync(join(dirname(modelsDir), '.podnet-strict-'));
  try {
    const lines: string[] = [];
    const paths: string[] = [];
    const owners: number[] = [];
    docs.forEach((d, i) => {
      const importPath = `${modelsDir}/${d.apiVersion}/${d.kind}`;
      lines.push(`import type { I${d.kind} as T${i} } from ${JSON.stringify(importPath)};`);
      paths.push('');
      owners.push(i);
    });
    docs.forEach((d, i) => {
      const start = lines.length;
      lines.push(`export const doc${i}: T${i} =`);
      paths.push('');
      renderLiteral(d, '', '', lines, paths);
      lines[lines.length - 1] += ';';
      for (let l = start; l < lines.length; l++) owners[l] = i;
    });
    const file = join(dir, 'check.ts');
    writeFileSync(file, lines.join('\n'));
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      types: [],
    });
    const problems: ManifestProblem[] = [];
    const unknown: { doc: number; path: string }[] = [];
    for (const diag of ts.getPreEmitDiagnostics(program)) {
      if (!diag.file || diag.start === undefined) {
        problems.push({
          doc: '?',
          path: '',
          message: ts.flattenDiagnosticMessageText(diag.messageText, '\n'),
        });
        continue;
      }
      const { line } = diag.file.getLineAndCharacterOfPosition(diag.start);
      const doc = docs[owners[line] ?? 0]!;
      if (diag.code === 2353 && paths[line])
        unknown.push({ doc: owners[line] ?? 0, path: paths[line]! });
      problems.push({
        doc: docName(doc),
        path: paths[line] ?? '',
        message: ts.flattenDiagnosticMessageText(diag.messageText, ' ').split(' Did you mean')[0]!,
      });
    }
    return { problems, unknown };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
