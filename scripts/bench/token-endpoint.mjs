// A minimal authorization server for scripts/bench-refresh-storm.mjs, in a process of its own so
// that the load generator's busy event loop does not delay it: POST /token with a refresh_token
// grant for `rt-demo-0001` answers, after AS_DELAY_MS, rotated access and refresh tokens. Counts
// token requests; reports "ready" with its port and, when asked, the count and the time of the
// first request (performance.timeOrigin + now, ms since the epoch).
import { createServer } from 'node:http';

const delay = Number(process.env.AS_DELAY_MS ?? '50');
const rotated = JSON.parse(process.env.AS_ROTATED);
let count = 0;
let firstAt;
const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const form = new URLSearchParams(body);
    if (req.method !== 'POST' || req.url !== '/token' || form.get('grant_type') !== 'refresh_token') {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_request"}');
      return;
    }
    count++;
    firstAt ??= performance.timeOrigin + performance.now();
    if (form.get('refresh_token') !== 'rt-demo-0001') {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
      return;
    }
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(
        JSON.stringify({ access_token: rotated.accessToken, token_type: 'Bearer', expires_in: 3600, refresh_token: rotated.refreshToken, scope: 'mcp:read' }),
      );
    }, delay);
  });
});
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
process.on('message', (msg) => {
  if (msg.type === 'count') process.send({ type: 'count', count, firstAt });
  if (msg.type === 'close') server.close(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
