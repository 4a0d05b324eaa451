/**
 * The Crossbar-style configuration the bench gives our router (a file in the run's temporary
 * directory): the realm, anonymous sessions as the admin role allowed everything, one websocket
 * on an ephemeral port with both serializers.
 */
export const routerConfig = (realm: string) => ({
  version: 2,
  workers: [{
    type: "router",
    realms: [{
      name: realm,
      // Sessions are the ledger's admin authrole, so the ledger workloads can mint their funds.
      roles: [{
        name: "admin",
        permissions: [{ uri: "*", allow: { call: true, register: true, publish: true, subscribe: true } }]
      }]
    }],
    transports: [{
      type: "websocket",
      endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" },
      serializers: ["json", "msgpack"],
      auth: { anonymous: { type: "static", role: "admin" } }
    }]
  }]
})
