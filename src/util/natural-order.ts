// One ordering for names shown to people: digits compare as numbers, so `web-3` comes before `web-27`.
const collator = new Intl.Collator("en", { numeric: true });

export const naturalCompare: (a: string, b: string) => number = collator.compare;
