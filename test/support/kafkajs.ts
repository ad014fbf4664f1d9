// kafkajs helpers shared by the integration tests.
import type { Kafka, Message } from 'kafkajs';

/** Sends `messages` to partition 0 of `topic` with acks=all, `perBatch` at a time (each send is one batch). */
export async function produceToPartition0(kafka: Kafka, topic: string, messages: Message[], perBatch = 1): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += perBatch) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + perBatch).map((m) => ({ ...m, partition: 0 })) });
    }
  } finally {
    await producer.disconnect();
  }
}
