// Reference HTTP/1.1 request parser for the differential framing test
// (tests/integration/http_diff_test.cpp): Node's own HTTP server, whose parser is llhttp, on a
// loopback port. Node built-ins only. Every request it frames is answered with JSON naming its
// method, target and body (hex). A stream llhttp refuses gets a 400 whose JSON body has llhttp's
// error code and every request framed on that connection before it (whose own answers may never
// have been written), then the connection closes.
//
// Usage: node llhttp_server.js PORT
'use strict';

const http = require('node:http');

const framed = new WeakMap();  // socket -> requests framed on it, in order

const server = http.createServer({ requestTimeout: 0, headersTimeout: 60000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const seen = { method: req.method, url: req.url, body: Buffer.concat(chunks).toString('hex') };
    framed.get(req.socket).push(seen);
    const body = JSON.stringify(seen);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  });
});

server.on('connection', (socket) => {
  framed.set(socket, []);
  // The test half-closes after its last byte. Node would then end the connection at once, before
  // the answer to a refused stream (written after a short delay, below) goes out, so the end is
  // handled here instead: once every answer has been written.
  for (const listener of socket.listeners('end')) {
    if (listener.name === 'bound socketOnEnd') socket.removeListener('end', listener);
  }
  socket.on('end', () => setTimeout(() => socket.end(), 100));
});

server.on('clientError', (err, socket) => {
  if (!socket.writable) return socket.destroy();
  // Lets the bodies of requests framed before the error reach their 'end' first.
  setTimeout(() => {
    const body = JSON.stringify({ error: String(err.code || 'ERROR'), requests: framed.get(socket) });
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Length: ${body.length}\r\n` +
               `Connection: close\r\n\r\n${body}`);
  }, 20);
});

server.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
