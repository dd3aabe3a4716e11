// Builds a Node.js startup snapshot of the TypeScript compiler with the standard library and
// Node's type definitions already parsed and bound, so that a compile no longer loads 9 MB of
// compiler nor parses 100,000 lines of declarations (sandbox/prebuilt.py runs this as root):
//
//   node --snapshot-blob OUT --build-snapshot tsc_snapshot.js TYPESCRIPT_JS TSC_OPTION...
//
// and a compile in the sandbox is `node --snapshot-blob OUT -- TSC_OPTION... main.ts`: the same
// options, diagnostics, exit status and output as `tsc TSC_OPTION... main.ts`, through the
// compiler's own functions (parseCommandLine, createProgram,
// emitFilesAndReportErrorsAndGetExitStatus) as tsc's command line does for a list of files. A
// declaration file is taken from the snapshot only when it is asked for with the very parse
// options it was parsed with (language version, module format, JSDoc parsing), under a program of
// the very options it was warmed with; anything else (another target,
// `/// <reference lib="dom" />`) is read and parsed from disk as tsc would. The same snapshot is
// also TypeScript's warm compile program (`--runbox-warm`, see serveWarm below).
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');

const [typescriptJs, ...warmOptions] = process.argv.slice(2);
const ts = loadTypescript(typescriptJs);
const WARM_FILE = '/__warm__/main.ts';
const warmProgramOptions = optionsKey(ts.parseCommandLine([...warmOptions, WARM_FILE]).options);
const parsedFiles = warm();

function loadTypescript(file) {
  // A snapshot's builder script can `require` only Node's own modules: run the compiler's single
  // CommonJS file as Node would, with its real path (it finds its lib.*.d.ts beside itself).
  const module = { exports: {} };
  const body = fs.readFileSync(file, 'utf8');
  new Function('module', 'exports', 'require', '__filename', '__dirname', body)(
    module, module.exports, require, file, path.dirname(file));
  return module.exports;
}

function optionsKey(options) {
  return JSON.stringify(options, (key, value) => (key === 'configFilePath' ? undefined : value));
}

function parseKey(options) {
  // What the parser reads of the options createProgram passes for a file (the rest, where the
  // file's package.json is, the program only notes on the file, and may have learnt more of by
  // the time it asks again).
  return `${options.languageVersion}/${options.impliedNodeFormat}/${options.jsDocParsingMode}`;
}

function warm() {
  // One program of an empty main file: every declaration file it pulls in, parsed, then bound by
  // its type checker (the binder leaves a bound file as it is; a checker never changes one).
  const parsed = ts.parseCommandLine([...warmOptions, WARM_FILE]);
  if (parsed.errors.length) throw new Error(ts.formatDiagnostics(parsed.errors, ts.createCompilerHost({})));
  const host = ts.createCompilerHost(parsed.options);
  const read = host.getSourceFile;
  const files = new Map();
  host.fileExists = ((exists) => (file) => file === WARM_FILE || exists(file))(host.fileExists);
  host.getSourceFile = (fileName, options, onError, shouldCreate) => {
    if (fileName === WARM_FILE) return ts.createSourceFile(fileName, 'export {};\n', options);
    const file = read.call(host, fileName, options, onError, shouldCreate);
    if (file) files.set(fileName, { file, options: parseKey(options) });
    return file;
  };
  const program = ts.createProgram(parsed.fileNames, parsed.options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length) throw new Error(ts.formatDiagnostics(diagnostics, host));
  return files;
}

function compile(args, oldProgram) {
  // The compiler's `sys` was made while the snapshot was built, in a temporary directory it would
  // still answer as the current one: relative imports ("./lib/calc") would be looked up there.
  const cwd = process.cwd();
  ts.sys.getCurrentDirectory = () => cwd;
  const reportDiagnostic = ts.createDiagnosticReporter(ts.sys, false);
  const parsed = ts.parseCommandLine(args);
  if (parsed.errors.length) {
    parsed.errors.forEach(reportDiagnostic);
    return ts.ExitStatus.DiagnosticsPresent_OutputsSkipped;
  }
  const host = ts.createCompilerHost(parsed.options);
  if (optionsKey(parsed.options) === warmProgramOptions) useParsedFiles(host);
  const program = ts.createProgram(parsed.fileNames, parsed.options, host, oldProgram);
  return ts.emitFilesAndReportErrorsAndGetExitStatus(
    program, reportDiagnostic, (s) => ts.sys.write(s + ts.sys.newLine), undefined);
}

function useParsedFiles(host) {
  const read = host.getSourceFile;
  host.getSourceFile = (fileName, options, onError, shouldCreate) => {
    const parsedFile = parsedFiles.get(fileName);
    if (parsedFile && parsedFile.options === parseKey(options)) return parsedFile.file;
    return read.call(host, fileName, options, onError, shouldCreate);
  };
}

// The warm compile program (see docs of `warm_compile` in sandbox/languages/typescript.toml):
//
//   node --snapshot-blob OUT -- --runbox-warm COLD_ARGV...
//
// started in the empty work dir before the program exists. It compiles a built-in sample as
// `main.ts` of that directory, from memory (nothing is read from or written to the directory but
// the lookups of imports, which find it empty, and nothing is printed), so that the type checker
// and the emitter are compiled by V8 and the standard library's module resolution is done; then
// it blocks reading fd 3. The worker writes the program's files, then the cold command's argv,
// each part followed by NUL, and closes the pipe. If that argv is COLD_ARGV (the compile command
// of the TOML: /bin/sh -c SCRIPT tsc TSC_OPTION...), this is the cold command's first branch,
// node from this very snapshot running compile() on the same tsc options, with one difference
// that changes no output: the sample's program is passed as the old program, so that what did
// not change (the standard library's files and their resolved imports) is reused as tsc --watch
// reuses it. Every file the user gave is read, parsed, resolved, checked and emitted anew; the
// type checker is a new one. Anything else on fd 3 (or nothing): exit 125, writing nothing.
const WARM_FLAG = '--runbox-warm';
const WARM_SAMPLE = `import * as fs from 'fs';
interface Shape { area(): number; name?: string }
class Square implements Shape {
  constructor(private readonly side: number) {}
  area(): number { return this.side ** 2; }
}
enum Color { Red, Green }
type Pair<T> = [T, T];
function largest<T extends Shape>(shapes: readonly T[]): T | undefined {
  return [...shapes].sort((a, b) => b.area() - a.area())[0];
}
async function main(): Promise<void> {
  const words = new Map<string, number>();
  const lines: string[] = fs.existsSync('/nonexistent') ? fs.readFileSync(0, 'utf8').split('\\n') : [];
  for (const w of lines.flatMap((l) => l.split(' '))) words.set(w, (words.get(w) ?? 0) + 1);
  const pair: Pair<number> = [1, 2];
  const sq = largest([new Square(2), new Square(3)]);
  const total = pair.reduce((a, b) => a + b, 0) + Number(process.argv[2] ?? '0');
  await Promise.resolve(total);
  console.log(\`\${sq?.area().toFixed(1)} \${Color[Color.Green]} \${JSON.stringify([...words])}\`, new Set([total]));
}
main().catch((e: unknown) => { console.error(e instanceof Error ? e.message : String(e)); process.exit(1); });
const wrong: number = 'a type error: the paths of diagnostics';
`;
// Compiled in this order, each with the one before as its old program: the sample, then the
// template, whose imports differ (tsc --watch's path when a file's imports changed). The
// template's program is the one kept: a user's program without imports then takes the path where
// they did not change. Three more samples (a syntax error, the imports again) cost the warm-up
// about 40 % more CPU and saved no hand-over a measurable time.
const WARM_SAMPLES = [
  WARM_SAMPLE,
  'const greet = (name: string): string => `Hello, ${name}!`;\nconsole.log(greet("world"));\n',
];

function serveWarm(coldArgv) {
  let oldProgram;
  try {
    oldProgram = warmUp(coldArgv.slice(4));
    collectGarbage();
  } catch (error) {
    oldProgram = undefined; // Only slower: the hand-over then compiles as the cold command.
  }
  let message;
  try {
    // The protocol's ready byte (fd 4, then closed): the pool hands a run only to a warm
    // sandbox that said it waits.
    fs.writeSync(4, 'R');
    fs.closeSync(4);
    message = fs.readFileSync(3);
    fs.closeSync(3);
  } catch (error) {
    process.exit(125);
  }
  const argv = message.toString('utf8').split('\0');
  const expected = coldArgv.length >= 4 && coldArgv[0] === '/bin/sh' && coldArgv[1] === '-c' &&
    coldArgv[3] === 'tsc' && argv.pop() === '' && argv.length === coldArgv.length &&
    argv.every((part, i) => part === coldArgv[i]);
  if (!expected) process.exit(125);
  process.exit(compile(argv.slice(4), oldProgram));
}

function warmUp(tscArgs) {
  // Each sample is compiled with the previous one's program as its old program, as the user's
  // compile will be: the first use of each path costs V8 far more than the compile itself.
  const parsed = ts.parseCommandLine(tscArgs);
  if (parsed.errors.length || optionsKey(parsed.options) !== warmProgramOptions) return undefined;
  const cwd = process.cwd();
  ts.sys.getCurrentDirectory = () => cwd;
  // Root files are asked for by the names given ("main.ts"), imports by absolute paths.
  const paths = new Set(parsed.fileNames.map((name) => ts.getNormalizedAbsolutePath(name, cwd)));
  const isSample = (fileName) => paths.has(ts.getNormalizedAbsolutePath(fileName, cwd));
  let program;
  for (const text of WARM_SAMPLES) {
    const host = ts.createCompilerHost(parsed.options);
    useParsedFiles(host);
    const read = host.getSourceFile;
    const sources = new Map();
    host.getSourceFile = (fileName, options, onError, shouldCreate) => {
      if (!isSample(fileName)) return read.call(host, fileName, options, onError, shouldCreate);
      if (!sources.has(fileName)) sources.set(fileName, ts.createSourceFile(fileName, text, options));
      return sources.get(fileName);
    };
    const exists = host.fileExists;
    host.fileExists = (fileName) => isSample(fileName) || exists.call(host, fileName);
    host.writeFile = () => {};
    const checked = ts.createProgram(parsed.fileNames, parsed.options, host, program);
    // Diagnostics formatted as compile() reports them, written nowhere.
    const report = ts.createDiagnosticReporter({ ...ts.sys, write: () => {} }, false);
    ts.emitFilesAndReportErrorsAndGetExitStatus(checked, report, () => {}, undefined);
    // The same program again, without a type checker: what is handed on keeps the parsed
    // files and the resolutions only.
    program = ts.createProgram(parsed.fileNames, parsed.options, host, checked);
  }
  return program;
}

function collectGarbage() {
  // A full collection now rather than during the user's compile.
  v8.setFlagsFromString('--expose-gc');
  require('vm').runInNewContext('gc')();
}

v8.startupSnapshot.setDeserializeMainFunction(() => {
  const args = process.argv.slice(1);
  if (args[0] === WARM_FLAG) serveWarm(args.slice(1));
  else process.exit(compile(args, undefined));
});
