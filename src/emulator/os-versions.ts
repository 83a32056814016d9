// The OS versions an image may declare, as GET /v1/cloudimages/os_version lists them (research/
// ims-api.md §6): the documented values plus current ones (Huawei Cloud EulerOS 2.0, Ubuntu 22.04).
// The `tag` query (bms, uefi, arm, x86) is not emulated: the whole list is always returned.

export interface OsVersion {
  readonly platform: string;
  readonly os_version_key: string;
  readonly os_version: string;
  readonly os_bit: number;
  readonly os_type: 'Linux' | 'Windows';
}

export interface OsPlatform {
  readonly platform: string;
  readonly version_list: readonly OsVersion[];
}

const VERSIONS: Readonly<Record<string, readonly string[]>> = {
  'Huawei Cloud EulerOS': ['Huawei Cloud EulerOS 2.0 64bit', 'Huawei Cloud EulerOS 1.1 64bit'],
  EulerOS: ['EulerOS 2.9 64bit', 'EulerOS 2.5 64bit', 'EulerOS 2.3 64bit', 'EulerOS 2.2 64bit', 'EulerOS 2.1 64bit'],
  openEuler: ['openEuler 22.03 64bit', 'openEuler 20.03 64bit'],
  CentOS: [
    'CentOS 8.2 64bit',
    'CentOS 8.0 64bit',
    ...['9', '8', '7', '6', '5', '4', '3', '2', '1', '0'].map((minor) => `CentOS 7.${minor} 64bit`),
    'CentOS 7.0 32bit',
    'CentOS 6.10 64bit',
    'CentOS 6.9 64bit',
    'CentOS 6.5 64bit',
    'CentOS 6.3 32bit',
  ],
  Ubuntu: [
    'Ubuntu 24.04 server 64bit',
    'Ubuntu 22.04 server 64bit',
    'Ubuntu 20.04 server 64bit',
    'Ubuntu 19.04 server 64bit',
    'Ubuntu 18.04 server 64bit',
    'Ubuntu 16.04.3 Server 64bit',
    'Ubuntu 16.04 server 64bit',
    'Ubuntu 14.04 server 32bit',
  ],
  Debian: ['Debian GNU/Linux 12.0.0 64bit', 'Debian GNU/Linux 11.0.0 64bit', 'Debian GNU/Linux 10.0.0 64bit'],
  'Red Hat': ['Redhat Linux Enterprise 8.0 64bit', 'Redhat 7.6 64bit', 'Redhat Linux Enterprise 6.4 32bit'],
  SUSE: [
    'SUSE Linux Enterprise Server 15 SP1 64bit',
    'SUSE Linux Enterprise Server 15 64bit',
    'SUSE Linux Enterprise Server 12 SP5 64bit',
  ],
  OpenSUSE: ['openSUSE 15.1 64bit', 'openSUSE 42.3 64bit'],
  'Oracle Linux': ['Oracle Linux Server release 7.6 64bit', 'Oracle Linux Server release 6.5 64bit'],
  Fedora: ['Fedora 30 64bit', 'Fedora 22 64bit'],
  CoreOS: ['CoreOS 1298.6.0'],
  Windows: [
    'Windows Server 2019 Standard 64bit',
    'Windows Server 2016 Standard 64bit',
    'Windows Server 2016 Datacenter 64bit',
    'Windows Server 2012 R2 Standard 64bit',
  ],
};

export const OS_PLATFORMS: readonly OsPlatform[] = Object.entries(VERSIONS).map(([platform, versions]) => ({
  platform,
  version_list: versions.map((version) => ({
    platform,
    os_version_key: version,
    os_version: version,
    // CoreOS names carry no bit count; it is 64-bit.
    os_bit: version.endsWith('32bit') ? 32 : 64,
    os_type: platform === 'Windows' ? 'Windows' : 'Linux',
  })),
}));

const BY_NAME = new Map(OS_PLATFORMS.flatMap((platform) => platform.version_list.map((v) => [v.os_version, v])));

/** The entry for an exact `os_version` string, or undefined when IMS does not know it. */
export function findOsVersion(osVersion: string): OsVersion | undefined {
  return BY_NAME.get(osVersion);
}
