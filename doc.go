// Package linkd holds the domain of the linked-accounts service: the types
// (tenants, linked accounts and their connections and configs, API keys,
// users, jobs, audit entries), the one error type every layer speaks, the
// interfaces the storage engines implement (Store, and Reader, what the
// front ends may read), and the services through which every change goes
// (Services: accounts, API keys, users, sessions, hosted links, settings,
// bulk jobs).
//
// The subpackages each wrap one dependency or one front end, and import the
// domain, never the other way round:
//
//   - sqlite, postgres: the two Store engines, checked by one contract suite
//     (storetest);
//   - vault: the keyring that seals secrets;
//   - connect: connecting apps (keys, OAuth 2.0), refresh, revocation,
//     credentials, configs and app settings; catalog: the apps linkd knows;
//   - proxy: calls to an app's API as a linked account, through outbound,
//     the one SSRF-guarded HTTP client; tmpl: the catalog's templates;
//   - csvio: CSV import and export; worker: the leased-work loop every
//     background job runs on; ratelimit: per-key token buckets;
//   - http: the JSON API; hosted: the hosted connect page and the OAuth
//     callback page; dashboard: the web dashboard.
//
// Front ends import the packages whose services they call (http and
// dashboard use connect and csvio; proxy uses connect); cmd/linkd wires
// everything.
package linkd
