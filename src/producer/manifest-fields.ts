/** The zod field types of manifest rows: blank cells as "not given", trimmed text, case-folded enums, lists, booleans. */
import { z } from 'zod';

/** Empty CSV cells and JSON nulls mean "not given". */
export const blankToUndefined = (value: unknown): unknown =>
  value === null || (typeof value === 'string' && value.trim() === '') ? undefined : value;

export const optionalText = (max: number) =>
  z.preprocess(
    blankToUndefined,
    z
      .union([z.string(), z.number()], { error: 'must be text' })
      .transform((value) => String(value).trim())
      .pipe(z.string().max(max, `must be at most ${max} characters`))
      .optional(),
  );

export const optionalEnum = <T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      return typeof blank === 'string' ? blank.trim().toLowerCase() : blank;
    },
    z.enum(values, { error: `must be one of: ${values.join(', ')}` }).optional(),
  );

/** A list of image URLs or paths (CSV: separated by `|`), at most `max`. */
export const imageListField = (max: number) =>
  z.preprocess(
    (value) => {
      const blank = blankToUndefined(value);
      if (typeof blank === 'string')
        return blank
          .split('|')
          .map((part) => part.trim())
          .filter((part) => part !== '');
      return blank;
    },
    z
      .array(z.string({ error: 'must be a list of image URLs or file paths' }), {
        error: 'must be a list of image URLs or file paths (CSV: separated by |)',
      })
      .max(max, `at most ${max} input images`)
      .optional(),
  );

/** `true` / `false` (JSON booleans, or the words in a CSV cell, any case). */
export const optionalBoolean = z.preprocess(
  (value) => {
    const blank = blankToUndefined(value);
    if (typeof blank !== 'string') return blank;
    const word = blank.trim().toLowerCase();
    return word === 'true' ? true : word === 'false' ? false : blank;
  },
  z.boolean({ error: 'must be true or false' }).optional(),
);
