// The connector as a Windows program: the exe as its own service (Service Control Manager protocol
// through koffi), and the setup an installer runs after registering it. Only this folder calls
// Windows APIs; it imports the connector's run and config, never the backup or store internals.
export { loadKoffi, KOFFI_VERSION } from './koffi';
export { runServiceHost, serviceLogDir } from './run-service-host';
export { hostService, type HostedService, type ServiceHostOptions } from './service-host';
export { SERVICE_RECOVERY, setupService, stateFolderAcl, waitForServiceStop, type ServiceSetupOptions } from './service-setup';
export {
  windowsServiceDispatcher,
  windowsServiceManager,
  type ServiceDispatcher,
  type ServiceManager,
  type ServiceStatus,
} from './service-control-manager';
