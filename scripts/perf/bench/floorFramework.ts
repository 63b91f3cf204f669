/** The floor (floor.ts) as a function for functions-framework: `--target=floor`. */
import { http } from '@google-cloud/functions-framework';
import { createFloorExchange } from './floor';

const exchange = createFloorExchange();

http('floor', async (req, res) => {
  // functions-framework has already parsed the JSON body (body-parser), as it does for ours.
  const { status, body } = await exchange(req.body as { api_key?: unknown });
  res.status(status).set({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).send(body);
});
