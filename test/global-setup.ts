import { spawnSync } from "node:child_process";
import { connect } from "node:net";

/** Whether something answers on 127.0.0.1:6379. */
function redisAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(6379, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * The tests use a Redis on 127.0.0.1:6379 (fresh key prefixes each): start one, without
 * persistence, when none answers, and leave it for the next run.
 */
export default async function setup(): Promise<void> {
  if (process.env.HYPWATCH_REDIS_URL || (await redisAnswers())) return;
  const started = spawnSync(
    "redis-server",
    [
      "--daemonize",
      "yes",
      "--bind",
      "127.0.0.1",
      "--port",
      "6379",
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    { stdio: "inherit" },
  );
  if (started.status !== 0)
    throw new Error("no Redis on 127.0.0.1:6379 and redis-server did not start");
  for (let i = 0; i < 50 && !(await redisAnswers()); i++)
    await new Promise((r) => setTimeout(r, 100));
}
