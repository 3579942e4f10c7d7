// Glob syntax check for track patterns in dman.yaml.
// INTEGRATION POINT (issue 2, track patterns): once shared/patterns/ exports validatePattern,
// delegate to it so the config and the matcher can never disagree on what is a valid glob.

/** Why a glob is malformed and how to fix it. */
export interface PatternSyntaxProblem { message: string; hint: string }

/** Returns the syntax problem of a glob body (without its leading `!`), or undefined when it parses. */
export function checkPatternSyntax(body: string): PatternSyntaxProblem | undefined {
  let bracket = false;
  let braces = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\' && i + 1 < body.length && /[[\]{}*?!\\]/.test(body[i + 1])) { i++; continue; }
    if (bracket) {
      if (c === ']' && body[i - 1] !== '[' && !(body[i - 1] === '!' && body[i - 2] === '[') && !(body[i - 1] === '^' && body[i - 2] === '[')) bracket = false;
      continue;
    }
    if (c === '[') bracket = true;
    else if (c === '{') braces++;
    else if (c === '}') {
      if (braces === 0) return { message: 'a `}` without its `{`', hint: 'escape it as \\} or add the opening {' };
      braces--;
    }
  }
  if (bracket) return { message: 'a `[` without its closing `]`', hint: 'close the character class, e.g. [abc], or escape it as \\[' };
  if (braces > 0) return { message: 'a `{` without its closing `}`', hint: 'close the brace set, e.g. {a,b}, or escape it as \\{' };
  if (body.includes('\0')) return { message: 'a NUL byte in the pattern', hint: 'delete it' };
  return undefined;
}
