// HBONE client on Node's own http2 stack: mTLS h2 CONNECT to an HBONE server, send a payload,
// half-close, read the echo to the end, print one JSON line.
// usage: node hbone-client.js <server port> <authority ip:port> <cert> <key> <ca> <payload>
'use strict';
const http2 = require('http2');
const fs = require('fs');

const [port, authority, certFile, keyFile, caFile, payload] = process.argv.slice(2);
const fail = (what) => { console.log(JSON.stringify({ error: String(what) })); process.exit(3); };
setTimeout(() => fail('timeout'), 20000).unref();

const session = http2.connect(`https://127.0.0.1:${port}`, {
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  ca: fs.readFileSync(caFile),
  minVersion: 'TLSv1.3',
  ALPNProtocols: ['h2'],
  // Identity is the SPIFFE URI SAN, not a host name: the chain is still checked against the CA.
  checkServerIdentity: () => undefined,
});
session.on('error', fail);

const req = session.request({ ':method': 'CONNECT', ':authority': authority });
req.on('error', fail);
let status = 0;
const chunks = [];
req.on('response', (headers) => {
  status = headers[':status'];
  if (status !== 200) {
    console.log(JSON.stringify({ status }));
    session.close();
    return;
  }
  req.end(Buffer.from(payload, 'utf8'));
});
req.on('data', (c) => chunks.push(c));
req.on('end', () => {
  const peer = session.socket.getPeerCertificate();
  console.log(JSON.stringify({
    status,
    alpn: session.alpnProtocol,
    peer: peer && peer.subjectaltname,
    echo: Buffer.concat(chunks).toString('utf8'),
  }));
  session.close();
});
