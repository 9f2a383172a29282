/**
 * The desk, driven from TypeScript through the generated package
 * (generated/typescript): every method kind, a declared error, and a push.
 * Compiled with that package's sources; `node demo.js SOCKET`.
 */

import { CalculatorClient, DivisionByZero, KvStoreClient, NotFound, PricesClient } from "./index.js";

const socket = process.argv[2];
if (socket === undefined) throw new Error("usage: node demo.js SOCKET");

const calculator = await CalculatorClient.connect(socket);
const kv = new KvStoreClient(calculator.connection);
const prices = new PricesClient(calculator.connection);
try {
  console.log(`calculator.add(40, 2)        -> ${(await calculator.add({ a: 40n, b: 2n })).sum}`);
  try {
    await calculator.divide({ dividend: 7n, divisor: 0n });
  } catch (error) {
    if (!(error instanceof DivisionByZero)) throw error;
    console.log(`calculator.divide(7, 0)      -> DivisionByZero (dividend ${error.dividend})`);
  }
  const numbers: number[] = [];
  for await (const item of calculator.count({ up_to: 5, delay_ms: 10n })) numbers.push(item.value);
  console.log(`calculator.count(5)          -> [${numbers.join(", ")}] (streamed)`);
  await calculator.log({ level: "info", line: "hello from TypeScript" });
  console.log("calculator.log(..)           -> delivered (fire-and-forget)");
  await kv.put({ key: "greeting", value: new TextEncoder().encode("hello") });
  const got = await kv.get({ key: "greeting" });
  console.log(`kv_store.put/get(greeting)   -> "${new TextDecoder().decode(got.value)}"`);
  try {
    await kv.get({ key: "nothing" });
  } catch (error) {
    if (!(error instanceof NotFound)) throw error;
    console.log(`kv_store.get(nothing)        -> NotFound (key "${error.key}")`);
  }
  const accepted = await prices.place({ kind: "limit", symbol: "ACME", side: "buy", size: 100n, price: 99.5 });
  console.log(`prices.place(limit order)    -> accepted as #${accepted.id}`);
  const updates = await prices.subscribePriceUpdate().start();
  for await (const update of updates) {
    const quote = update.quote;
    console.log(`push PriceUpdate             -> ${quote.symbol} ${quote.side} ${quote.size} @ ${quote.price}`);
    break;
  }
  await updates.close();
} finally {
  calculator.close();
}
