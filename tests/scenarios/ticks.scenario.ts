import { ticksAdd, ticksBetween, ticksUntil } from "../../sdk/ticks";
import { scenario } from "./harness";

const MAX = 0x7fffffff;
const MIN = -0x80000000;

scenario("ticks: arithmetic across the 32-bit wrap", (check) => {
  check.equal(ticksAdd(MAX, 1), MIN, "MAX + 1 wraps to MIN");
  check.equal(ticksAdd(MAX - 10, 100), MIN + 89);
  check.equal(ticksAdd(MIN + 5, -10), MAX - 4, "going back across the wrap");
  check.equal(ticksBetween(MAX - 10, MIN + 89), 100, "forward across the wrap");
  check.equal(ticksBetween(MIN + 89, MAX - 10), -100, "backward across the wrap");
  check.equal(ticksBetween(-5, 5), 10);
  check.equal(ticksUntil(MAX - 10, MIN + 89), 100, "deadline after the wrap is in the future");
  check.equal(ticksUntil(MIN + 89, MAX - 10), 0, "deadline before the wrap has passed");
  check.equal(ticksUntil(MIN + 89, MIN + 89), 0);
});

scenario("ticks: every deadline up to 2^31 - 1 ms ahead is in the future, from any start", (check) => {
  const starts = [0, 1, -1, MAX, MIN, MAX - 1000, MIN + 1000, 123456789];
  const distances = [1, 1000, 86400000, MAX];
  for (const start of starts) {
    for (const ms of distances) {
      const deadline = ticksAdd(start, ms);
      check.ok(deadline >= MIN && deadline <= MAX, "stays a signed 32-bit value");
      check.equal(ticksUntil(start, deadline), ms, `start ${start} + ${ms}`);
      check.equal(ticksBetween(deadline, start), -ms);
      check.equal(ticksUntil(ticksAdd(deadline, 1), deadline), 0, "one past the deadline");
    }
  }
});
