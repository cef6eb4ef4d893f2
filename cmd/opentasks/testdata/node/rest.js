// @google-cloud/tasks in REST mode (fallback) against OpenTasks
// (TestNodeClients). Env: OPENTASKS_PORT.
const { CloudTasksClient } = require('@google-cloud/tasks');
const { OAuth2Client } = require('google-auth-library');

// A fixed token: no credentials lookup, no network beyond the server.
const auth = new OAuth2Client();
auth.setCredentials({ access_token: 'owner', expiry_date: Date.now() + 3600e3 });

(async () => {
  const client = new CloudTasksClient({
    fallback: true, protocol: 'http', apiEndpoint: '127.0.0.1', port: Number(process.env.OPENTASKS_PORT), authClient: auth,
  });
  const [loc] = await client.getLocation({ name: 'projects/p/locations/us-central1' });
  let locations = 0;
  for await (const l of client.listLocationsAsync({ name: 'projects/p' })) locations++;
  const [q] = await client.createQueue({ parent: 'projects/p/locations/us-central1', queue: { name: 'projects/p/locations/us-central1/queues/nq' } });
  const [t] = await client.createTask({
    parent: q.name, responseView: 'FULL',
    task: { scheduleTime: { seconds: Math.floor(Date.now() / 1000) + 3600 }, httpRequest: { url: 'http://127.0.0.1:1/', httpMethod: 'PUT', body: Buffer.from('hi') } },
  });
  console.log(JSON.stringify({ location: loc.locationId, locations, queueState: q.state, taskMethod: t.httpRequest.httpMethod, taskBody: Buffer.from(t.httpRequest.body).toString() }));
  process.exit(0);
})().catch((e) => {
  console.error('FAILED', e.message);
  process.exit(1);
});
