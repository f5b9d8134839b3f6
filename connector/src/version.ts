/** The connector's version: reported to the cloud, printed by --version, written into so-connector.exe and the MSI. Same as package.json's (the build checks). */
export const CONNECTOR_VERSION = '0.1.0';
