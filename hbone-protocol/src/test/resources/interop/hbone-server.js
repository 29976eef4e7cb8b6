// HBONE server on Node's own http2 stack: mTLS (client certificate required and verified against
// the CA), CONNECT only, dials the :authority and pipes both ways (half-close carried through).
// Prints "LISTENING <port>" once bound and "PEER <client SAN>" for every tunnel.
// usage: node hbone-server.js <port> <cert> <key> <ca>
'use strict';
const http2 = require('http2');
const net = require('net');
const fs = require('fs');

const [port, certFile, keyFile, caFile] = process.argv.slice(2);
const { NGHTTP2_CONNECT_ERROR } = http2.constants;

const server = http2.createSecureServer({
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  ca: fs.readFileSync(caFile),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
  ALPNProtocols: ['h2'],
});

server.on('stream', (stream, headers) => {
  if (headers[':method'] !== 'CONNECT') {
    stream.respond({ ':status': 400 }, { endStream: true });
    return;
  }
  const authority = headers[':authority'] || '';
  const colon = authority.lastIndexOf(':');
  const host = authority.slice(0, colon);
  const upstreamPort = Number(authority.slice(colon + 1));
  if (colon <= 0 || !net.isIP(host) || !(upstreamPort > 0 && upstreamPort < 65536)) {
    stream.respond({ ':status': 400 }, { endStream: true });
    return;
  }
  const peer = stream.session.socket.getPeerCertificate();
  console.log(`PEER ${peer && peer.subjectaltname}`);
  const upstream = net.connect(upstreamPort, host, () => {
    stream.respond({ ':status': 200 });
    upstream.pipe(stream);
    stream.pipe(upstream);
  });
  upstream.on('error', () => {
    if (!stream.headersSent) {
      stream.respond({ ':status': 503 }, { endStream: true });
    } else {
      stream.close(NGHTTP2_CONNECT_ERROR);
    }
  });
  stream.on('error', () => upstream.destroy());
  stream.on('close', () => upstream.destroy());
});
server.on('sessionError', () => {});
server.listen(Number(port), '127.0.0.1', () => console.log(`LISTENING ${server.address().port}`));
