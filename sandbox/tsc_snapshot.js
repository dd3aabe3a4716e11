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
// declaration file is taken from the snapshot only when it is asked for with the very options it
// was parsed with, under a program of the very options it was warmed with; anything else (another
// target, `/// <reference lib="dom" />`) is read and parsed from disk as tsc would.
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
    if (file) files.set(fileName, { file, options: JSON.stringify(options) });
    return file;
  };
  const program = ts.createProgram(parsed.fileNames, parsed.options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length) throw new Error(ts.formatDiagnostics(diagnostics, host));
  return files;
}

function compile() {
  // The compiler's `sys` was made while the snapshot was built, in a temporary directory it would
  // still answer as the current one: relative imports ("./lib/calc") would be looked up there.
  const cwd = process.cwd();
  ts.sys.getCurrentDirectory = () => cwd;
  const args = process.argv.slice(1);
  const reportDiagnostic = ts.createDiagnosticReporter(ts.sys, false);
  const parsed = ts.parseCommandLine(args);
  if (parsed.errors.length) {
    parsed.errors.forEach(reportDiagnostic);
    return ts.ExitStatus.DiagnosticsPresent_OutputsSkipped;
  }
  const host = ts.createCompilerHost(parsed.options);
  if (optionsKey(parsed.options) === warmProgramOptions) {
    const read = host.getSourceFile;
    host.getSourceFile = (fileName, options, onError, shouldCreate) => {
      const parsedFile = parsedFiles.get(fileName);
      if (parsedFile && parsedFile.options === JSON.stringify(options)) return parsedFile.file;
      return read.call(host, fileName, options, onError, shouldCreate);
    };
  }
  const program = ts.createProgram(parsed.fileNames, parsed.options, host);
  return ts.emitFilesAndReportErrorsAndGetExitStatus(
    program, reportDiagnostic, (s) => ts.sys.write(s + ts.sys.newLine), undefined);
}

v8.startupSnapshot.setDeserializeMainFunction(() => process.exit(compile()));
