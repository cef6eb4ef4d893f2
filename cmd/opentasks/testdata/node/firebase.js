// firebase-admin's task queue against OpenTasks (TestNodeClients).
// Env: CLOUD_TASKS_EMULATOR_HOST, FN_PORT (where the "function" listens).
const http = require('http');
const { initializeApp } = require('firebase-admin/app');
const { getFunctions } = require('firebase-admin/functions');

const received = new Promise((resolve) => {
  http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.writeHead(204);
      res.end();
      resolve({ method: req.method, url: req.url, headers: req.headers, body });
    });
  }).listen(Number(process.env.FN_PORT), '127.0.0.1');
});

(async () => {
  // serviceAccountId spares the SDK a metadata-server lookup.
  initializeApp({ projectId: 'demo', serviceAccountId: 'fn@demo.iam.gserviceaccount.com' });
  const q = getFunctions().taskQueue('resize');
  await q.enqueue({ image: 'a.png' }, { id: 'fb-1' });
  let dup = 'none';
  try {
    await q.enqueue({ image: 'a.png' }, { id: 'fb-1' });
  } catch (e) {
    dup = e.code;
  }
  await q.enqueue({ later: true }, { id: 'fb-2', scheduleDelaySeconds: 3600 });
  await q.delete('fb-2');
  await q.delete('fb-2'); // a 404, which the SDK ignores
  const r = await received;
  const claims = JSON.parse(Buffer.from(r.headers.authorization.split(' ')[1].split('.')[1], 'base64url'));
  console.log(JSON.stringify({
    duplicate: dup, method: r.method, path: r.url, contentType: r.headers['content-type'], body: r.body,
    queue: r.headers['x-cloudtasks-queuename'], task: r.headers['x-cloudtasks-taskname'], email: claims.email,
  }));
  process.exit(0);
})().catch((e) => {
  console.error('FAILED', e);
  process.exit(1);
});
