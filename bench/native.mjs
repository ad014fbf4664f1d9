// The C++ benchmarks, compiled with g++ -O3 into bench/.build/ and run:
//
//   crc32c          bench/native/crc32c_bench.cc + native/crc32c.cc
//   write-path      bench/native/append_write_bench.cc: pwrite/pwritev vs mmap+memcpy
//   validate        bench/native/validate_bench.cc + the engine's record_batch.cc:
//                   what check_batch costs per record, built as node-gyp builds
//                   the addon (-fPIC) and with -fno-semantic-interposition
//
// Run alone: node bench/native.mjs [crc32c] [write-path] [validate]
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { BENCH_DIR, REPO_DIR, TRIALS, envInt, log, removeDir, scratchDir } from './lib/util.mjs';

const BUILD_DIR = join(BENCH_DIR, '.build');

export function haveCompiler() {
  return spawnSync('g++', ['--version'], { stdio: 'ignore' }).status === 0;
}

function compile(output, sources, extraFlags = []) {
  mkdirSync(BUILD_DIR, { recursive: true });
  const args = ['-O3', '-std=c++17', '-Wall', '-Wextra', ...extraFlags, ...sources, '-o', join(BUILD_DIR, output)];
  log(`native: g++ ${args.join(' ')}`);
  const r = spawnSync('g++', args, { cwd: REPO_DIR, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`g++ failed for ${output}:\n${r.stderr}`);
  return { binary: join(BUILD_DIR, output), command: `g++ ${args.join(' ').replaceAll(`${BUILD_DIR}/`, 'bench/.build/')}` };
}

function run(binary, args = []) {
  const r = spawnSync(binary, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${binary} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout;
}

function splitJson(stdout) {
  const lines = stdout.trimEnd().split('\n');
  const jsonLine = lines.findIndex((l) => l.startsWith('JSON: '));
  if (jsonLine < 0) return { text: stdout.trimEnd(), json: null };
  return { text: lines.slice(0, jsonLine).join('\n').trimEnd(), json: JSON.parse(lines[jsonLine].slice(6)) };
}

export function benchCrc32c() {
  const { binary, command } = compile('crc32c_bench', ['native/crc32c.cc', 'bench/native/crc32c_bench.cc']);
  log('native: crc32c_bench');
  const text = run(binary).trimEnd();
  const memcpy = /memcpy 1 MiB \(bytes copied\): ([\d.]+) GB\/s/.exec(text);
  return { command, text, memcpyGBs: memcpy ? Number(memcpy[1]) : null };
}

export function benchWritePath() {
  const { binary, command } = compile('append_write_bench', ['bench/native/append_write_bench.cc']);
  const totalMiB = envInt('WRITE_PATH_MIB', 1024);
  const stepMiB = envInt('WRITE_PATH_STEP_MIB', 64);
  const dir = scratchDir('write-path');
  try {
    log(`native: append_write_bench ${totalMiB} MiB x ${TRIALS}`);
    const args = [dir, String(totalMiB), String(TRIALS), String(stepMiB)];
    const { text, json } = splitJson(run(binary, args));
    return { command, runCommand: `bench/.build/append_write_bench <data dir> ${args.slice(1).join(' ')}`, text, json };
  } finally {
    removeDir(dir);
  }
}

export function benchValidate() {
  const sources = ['native/errors.cc', 'native/crc32c.cc', 'native/record_batch.cc', 'bench/native/validate_bench.cc'];
  const pic = compile('validate_bench_pic', sources, ['-fPIC']);
  const nosi = compile('validate_bench_nosi', sources, ['-fPIC', '-fno-semantic-interposition']);
  log('native: validate_bench (-fPIC, as node-gyp builds the addon)');
  const asBuilt = splitJson(run(pic.binary));
  log('native: validate_bench (-fPIC -fno-semantic-interposition)');
  const inlined = splitJson(run(nosi.binary));
  return { commands: [pic.command, nosi.command], asBuilt, inlined };
}

export function crc32cMarkdown(crc) {
  return [`\`${crc.command}\``, '', '```', crc.text, '```'].join('\n');
}

export function writePathMarkdown(wp) {
  const out = [`\`${wp.command}\` then \`${wp.runCommand}\``, '', wp.text];
  if (wp.json) {
    const med = (method, chunk) => {
      const cell = wp.json.cells.find((c) => c.method === method && c.chunk === chunk);
      const v = [...cell.mbs].sort((a, b) => a - b);
      return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    };
    out.push('');
    for (const [chunk, label] of [[16384, '16 KiB'], [1048576, '1 MiB']]) {
      const pw = med('pwritev', chunk);
      const mm = Math.max(med('mmap', chunk), med('mmap-populate', chunk));
      out.push(`- ${label} chunks: pwritev ${pw.toFixed(0)} MB/s vs best mmap variant ${mm.toFixed(0)} MB/s → mmap is ${((mm / pw) * 100).toFixed(0)}% of pwritev.`);
    }
  }
  return out.join('\n');
}

export function validateMarkdown(v) {
  return [
    `As node-gyp compiles the addon: \`${v.commands[0]}\``,
    '',
    v.asBuilt.text,
    '',
    `With \`-fno-semantic-interposition\` (lets GCC inline \`read_zigzag_varint\` into the record walk; the addon's build calls it through the PLT): \`${v.commands[1]}\``,
    '',
    v.inlined.text,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const parts = process.argv.slice(2);
  const want = (name) => parts.length === 0 || parts.includes(name);
  if (want('crc32c')) console.log(crc32cMarkdown(benchCrc32c()), '\n');
  if (want('write-path')) console.log(writePathMarkdown(benchWritePath()), '\n');
  if (want('validate')) console.log(validateMarkdown(benchValidate()), '\n');
}
