// Follows the OS colour scheme (prefers-color-scheme), for components that need it in JS.
import { useEffect, useState } from 'react';

/** Returns true while the OS asks for a dark theme. */
export function useDarkMode(): boolean {
  const q = typeof window !== 'undefined' && window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
  const [dark, setDark] = useState(() => q?.matches ?? false);
  useEffect(() => {
    if (!q) return;
    const on = (e: MediaQueryListEvent) => setDark(e.matches);
    q.addEventListener('change', on);
    return () => q.removeEventListener('change', on);
  }, [q]);
  return dark;
}
