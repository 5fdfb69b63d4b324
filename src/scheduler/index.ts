export { type Clock, FakeClock, settle, systemClock, type TimerHandle } from './clock.js';
export { cronZone, describeSchedule, HOURLY, nextFire, prevFire, scheduleError, scheduleToCron, wallClock, type ScheduleInfo, type ScheduleSpec } from './cron.js';
export {
  type ConnectorSchedule, DEFAULT_BACKOFF, type Job, type JobKind, type JobResult, type ScheduledConnector, Scheduler, SchedulerBusyError,
  type SchedulerEvent, type SchedulerOptions,
} from './scheduler.js';
