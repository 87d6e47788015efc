/**
 * Local calendar days for history: reports group by the machine's days (its time zone,
 * `TZ`), and the store keeps a day table (`usage_day`) in one zone so a report over a year
 * reads a few thousand day rows instead of every hour row.
 *
 * A day is a number: days since 1970-01-01 of the local date, so its keys (`2026-11-20`,
 * `2026-W47`, `2026-11`) are computed without a zone. An hour belongs to the local day its
 * start falls in (in a zone with a half-hour offset, the hour that straddles midnight counts
 * for the day it starts in, as hour rows cannot be split).
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Hours whose local day is remembered per zone: two years of hours. */
export const DAY_CACHE_HOURS = 2 * 366 * 24;

/**
 * The zone local days are computed in: its IANA name, else the `TZ` setting that named it
 * (a POSIX rule such as `UTC+3` has no IANA name).
 */
export function zoneId(): string {
  // resolving the zone costs about a millisecond; like Node's own clock, it follows TZ changes made in the process
  const tz = process.env.TZ;
  if (zoneFor !== tz || zone === "") {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone ?? `TZ=${tz ?? ""}`;
    zoneFor = tz;
  }
  return zone;
}

let zone = "";
let zoneFor: string | undefined;

let cacheZone = "";
const cache = new Map<number, number>();

/** The local day (of the process's zone now) of each hour since the epoch; cached per zone. */
export function hourToDay(): (hour: number) => number {
  const zone = zoneId();
  if (zone !== cacheZone) {
    cache.clear();
    cacheZone = zone;
  }
  return (hour) => {
    let d = cache.get(hour);
    if (d === undefined) {
      if (cache.size >= DAY_CACHE_HOURS) cache.clear();
      const t = new Date(hour * HOUR_MS);
      d = Math.round(Date.UTC(t.getFullYear(), t.getMonth(), t.getDate()) / DAY_MS);
      cache.set(hour, d);
    }
    return d;
  };
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** `2026-11-20` */
export function dayKeyOfDay(day: number): string {
  const d = new Date(day * DAY_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** `2026-11` */
export function monthKeyOfDay(day: number): string {
  const d = new Date(day * DAY_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`;
}

/** ISO 8601 week, `2026-W47` (weeks start on Monday; week 1 holds the year's first Thursday). */
export function weekKeyOfDay(day: number): string {
  const d = new Date(day * DAY_MS);
  d.setUTCDate(d.getUTCDate() + 4 - (d.getUTCDay() || 7)); // the Thursday of its week
  const week = Math.ceil(((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / DAY_MS + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

/** The local day of an instant (ms since epoch), in the process's zone. */
export function localDayOf(t: number): number {
  const d = new Date(t);
  return Math.round(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) / DAY_MS);
}
