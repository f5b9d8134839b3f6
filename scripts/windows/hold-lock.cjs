// Run by node.exe under Wine: holds a file open with no sharing, as Word does with an open document,
// until a release file appears. Arguments: koffi.node, the file, the ready file, the release file.
const fs = require('node:fs');
const [koffiFile, file, readyFile, releaseFile] = process.argv.slice(2);
const native = { exports: {} };
process.dlopen(native, koffiFile);
const koffi = native.exports;
const kernel32 = koffi.load('kernel32.dll');
const CreateFileW = kernel32.func(
  'void * __stdcall CreateFileW(str16 name, uint32 access, uint32 share, void *security, uint32 disposition, uint32 flags, void *template)',
);
const CloseHandle = kernel32.func('bool __stdcall CloseHandle(void *handle)');
const GetLastError = kernel32.func('uint32 __stdcall GetLastError()');
const GENERIC_READ = 0x80000000,
  NO_SHARING = 0,
  OPEN_EXISTING = 3,
  FILE_ATTRIBUTE_NORMAL = 0x80;
const handle = CreateFileW(file, GENERIC_READ, NO_SHARING, null, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, null);
if (!handle || koffi.address(handle) === 0xffffffffffffffffn) {
  fs.writeFileSync(readyFile, `failed ${GetLastError()}`);
  process.exit(1);
}
fs.writeFileSync(readyFile, 'locked');
setInterval(() => {
  if (!fs.existsSync(releaseFile)) return;
  CloseHandle(handle);
  fs.writeFileSync(readyFile, 'released');
  process.exit(0);
}, 100);
