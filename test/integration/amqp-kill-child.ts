// Child process for amqp-kill.test.ts: consumes one queue with prefetch 1 and never acknowledges, like
// an acks_late task still running, until the parent kills it with SIGKILL.
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { labelOf } from "../conformance/fixtures.ts";
import { AMQP_URL, brokerOptions } from "../interop/amqp-helpers.ts";

const queue = process.argv[2] as string;
const broker = new AmqpBroker(AMQP_URL, brokerOptions());
await broker.connect();
await broker.consume([queue], (delivery) => console.log(`got ${labelOf(delivery.message)}`), { prefetch: 1 });
console.log("consuming");
