// Package linkd holds the domain of the linked-accounts service: the types
// (tenants, linked accounts, API keys, audit entries), the one error type every
// layer speaks, and the interfaces that storage engines implement.
//
// Subpackages provide those interfaces over one dependency each (sqlite,
// postgres, vault, http) and never import each other; cmd/linkd wires them.
package linkd
