// Warm start of a Node.js run (sandbox/pool.py, docs/warm-sandboxes.md).
//
// Bound read-only at /etc/runbox/warm-node.js in a warm sandbox only, which runs the cold command
// with `-r` this file before `main.js`, and without the program's arguments. Node preloads it
// before it loads the main module: it says ready on fd 4, waits on fd 3 for the run's command
// line (the files are in /box by then), puts the program's arguments into process.argv, takes
// itself out of process.execArgv and of the module cache, and returns. Node then runs main.js as
// the cold command does: same process.argv, require.main, stack traces and exit status.
'use strict';
{
  const fs = require('fs');
  const path = require('path');
  const chunks = [];
  try {
    fs.writeSync(4, 'R');
    fs.closeSync(4);
    const buffer = Buffer.alloc(65536);
    for (let n; (n = fs.readSync(3, buffer, 0, buffer.length, null)) > 0; ) {
      chunks.push(Buffer.from(buffer.subarray(0, n)));
    }
    fs.closeSync(3);
  } catch {
    process.reallyExit(125);
  }
  const data = Buffer.concat(chunks);
  const argv = data.toString('utf8').split('\0');
  const ended = argv.pop() === '';
  // The cold command: node, its options (ours without `-r` and this file), main.js, arguments.
  const options = process.execArgv.filter((a, i, all) => a !== '-r' && all[i - 1] !== '-r');
  const main = path.basename(process.argv[1]);
  const prefix = argv.slice(1, 2 + options.length);
  if (!ended || prefix.join('\0') !== [...options, main].join('\0')) {
    process.reallyExit(125);
  }
  process.argv.splice(2, process.argv.length - 2, ...argv.slice(2 + options.length));
  process.execArgv = options;
  delete require.cache[__filename];
}
