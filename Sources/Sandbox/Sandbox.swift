// The Sandbox: local replay of providers (see docs/PROVIDERS.md).
