// Holds COUNT open loopback TCP connections until killed: each client end takes a port of the
// kernel's ephemeral range, as a busy machine's outgoing connections do. Prints "ready N".
const net = require('node:net');
const [port, count] = process.argv.slice(2).map(Number);
const accepted = [];
const server = net.createServer((socket) => accepted.push(socket));
server.listen(port, '127.0.0.1', () => {
  let open = 0;
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      if (++open === count) process.stdout.write(`ready ${open}\n`);
    });
    socket.on('error', (error) => {
      process.stderr.write(`connection ${i}: ${error.message}\n`);
      process.exit(1);
    });
  }
});
