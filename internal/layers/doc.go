// Package layers holds no code: its test keeps the layers of lapps
// honest, so that the data model, the stores, the matcher, the indexer,
// the checks and the report never depend on the packages that serve or
// drive them (server, service, cli, client, web, apps, admission,
// notifier, scheduler, updater).
package layers
