// A partner's webhook receiver: WEBHOOK_SECRET=whsec_… PORT=4000 node examples/webhook-receiver.mjs
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => {
    let event;
    try { event = webhook.verify(body, req.headers); } catch { return res.writeHead(400).end(); }
    console.log(event.type, event.data.id ?? event.data);
    res.writeHead(204).end();
  });
}).listen(Number(process.env.PORT ?? 4000));
