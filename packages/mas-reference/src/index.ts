/**
 * `@gitbridge/mas-reference`: a reference multi-agent system (MAS) server
 * speaking GitBridge MAS protocol 2.1, for local development, demos and tests.
 * The `gitbridge-mas` binary (`src/main.ts`) wraps {@link startReferenceMas}.
 */
export { startReferenceMas } from './server.js';
export type {
  CallbackAttempt,
  CallbackStatus,
  ControlAction,
  FailureModes,
  FailureModeState,
  ReferenceMas,
  ReferenceMasEvent,
  ReferenceMasOptions,
  ReferenceMasTask,
  Submission,
  SubmissionOrdering,
  TaskStatus,
} from './types.js';
