// Package loadgen is OpenTasks' load generator (`opentasks bench`). It runs
// its own HTTP target, drives one or more OpenTasks servers through the
// official Go client, and measures what the issues ask of the dispatcher:
//
//   - the loopback ceiling: a plain keep-alive client hammering the same
//     target, so every other figure can be read against what this machine
//     can do at all;
//   - durable creates per second with many concurrent callers;
//   - delivered tasks per second, end to end, across many queues;
//   - lateness of delivery against schedule_time at a steady offered rate;
//   - the accuracy of a queue's configured dispatch rate;
//   - optionally, the resident memory that a million pending tasks add.
//
// The target tells deliveries apart by the X-CloudTasks-QueueName header and
// reads the schedule time from X-CloudTasks-TaskETA, exactly as a real
// handler would.
package loadgen
