export { RecordingRunner, type FakeResponder } from './recording-runner.js';
export {
  TEST_NETNS_PREFIX,
  TestNet,
  createTestNet,
  sweepStaleTestNets,
  waitFor,
  waitForLocalTcp,
  type TestExecOptions,
  type VethEnd,
} from './netns-kit.js';
