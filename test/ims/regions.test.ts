// Where a region's IMS and IAM are, and the region maps a user gives instead.
import { Constants } from '@huaweicloud/huaweicloud-sdk-core/utils/constant.js';
import { describe, expect, it } from 'vitest';
import {
  GLOBAL_IAM_ENDPOINT,
  iamEndpoint,
  imsEndpoint,
  isRegionName,
  parseEndpointMap,
  parseIamEndpoint,
  parseProjectMap,
  SettingError,
} from '../../src/ims/regions.js';

/** The SettingError `parse` throws; its message must never hold `secret`. */
function settingError(parse: () => unknown, secret = 'hunter2'): SettingError {
  let error: unknown;
  try {
    parse();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(SettingError);
  expect((error as Error).message).not.toContain(secret);
  return error as SettingError;
}

describe('imsEndpoint', () => {
  it.each([
    ['ap-southeast-1', 'https://ims.ap-southeast-1.myhuaweicloud.com'],
    ['cn-north-4', 'https://ims.cn-north-4.myhuaweicloud.com'],
    ['my-kualalumpur-1', 'https://ims.my-kualalumpur-1.myhuaweicloud.com'],
    // Huawei's current SDK tables keep these on myhuaweicloud.com too (OBS is elsewhere for both).
    ['eu-west-101', 'https://ims.eu-west-101.myhuaweicloud.com'],
    ['ae-ad-1', 'https://ims.ae-ad-1.myhuaweicloud.com'],
  ])('%s is at %s', (region, endpoint) => {
    expect(imsEndpoint(region)).toBe(endpoint);
  });

  it("takes the user's endpoint for a region in the map, and only for that region", () => {
    const overrides = parseEndpointMap('ae-ad-1=https://ims.ae-ad-1.g42cloud.com', 'IMSYNC_ENDPOINTS');
    expect(imsEndpoint('ae-ad-1', overrides)).toBe('https://ims.ae-ad-1.g42cloud.com');
    expect(imsEndpoint('cn-north-4', overrides)).toBe('https://ims.cn-north-4.myhuaweicloud.com');
  });

  it('refuses a region name that would make another host', () => {
    expect(() => imsEndpoint('evil.example.com/x')).toThrow('is not a region name such as ap-southeast-1');
    expect(() => imsEndpoint('')).toThrow('is not a region name');
  });
});

describe('iamEndpoint', () => {
  it.each([
    ['ap-southeast-1', 'https://iam.ap-southeast-1.myhuaweicloud.com'],
    ['cn-north-4', 'https://iam.cn-north-4.myhuaweicloud.com'],
    ['cn-north-12', 'https://iam.cn-north-12.myhuaweicloud.com'],
    ['tr-west-1', 'https://iam.tr-west-1.myhuaweicloud.com'],
  ])("asks %s's own IAM, as the Go and Python SDKs do: %s", (region, endpoint) => {
    expect(iamEndpoint(region)).toBe(endpoint);
  });

  it.each(['eu-west-101', 'af-north-1', 'ap-southeast-5', 'cn-southwest-3'])(
    'asks the global IAM for %s, which has none of its own in the SDK tables',
    (region) => {
      expect(iamEndpoint(region)).toBe(GLOBAL_IAM_ENDPOINT);
    },
  );

  it("the global endpoint is the Node SDK's default one", () => {
    expect(GLOBAL_IAM_ENDPOINT).toBe(Constants.DEFAULT_IAM_ENDPOINT);
  });

  it('asks the override for every region', () => {
    const override = parseIamEndpoint('http://127.0.0.1:8788/', 'IMSYNC_IAM_ENDPOINT');
    expect(override).toBe('http://127.0.0.1:8788');
    expect(iamEndpoint('ap-southeast-1', override)).toBe(override);
    expect(iamEndpoint('af-north-1', override)).toBe(override);
  });

  it('refuses a bad region', () => {
    expect(() => iamEndpoint('ap southeast 1')).toThrow('is not a region name');
  });
});

describe('isRegionName', () => {
  it('takes region names and nothing that could change a host', () => {
    expect(['ap-southeast-1', 'cn-north-12', 'tr-central-201'].every(isRegionName)).toBe(true);
    expect(['ap-southeast', 'AP-SOUTHEAST-1', 'ap-southeast-1.evil', 'ap_southeast_1', ''].some(isRegionName)).toBe(
      false,
    );
  });
});

describe('parseIamEndpoint', () => {
  it.each([
    ['iam.myhuaweicloud.com', 'IMSYNC_IAM_ENDPOINT is not a URL such as https://iam.myhuaweicloud.com'],
    ['https://iam.myhuaweicloud.com/v3', 'IMSYNC_IAM_ENDPOINT has a path (/v3); IAM endpoints have none'],
    ['https://admin:hunter2@iam.example.com', 'IMSYNC_IAM_ENDPOINT must not carry credentials'],
  ])('refuses %s', (text, message) => {
    expect(settingError(() => parseIamEndpoint(text, 'IMSYNC_IAM_ENDPOINT')).message).toContain(message);
  });
});

describe('parseEndpointMap', () => {
  it('reads region=URL pairs into origins, white space around entries ignored', () => {
    const map = parseEndpointMap(
      ' ap-southeast-1=https://IMS.Example.com/ ,\ncn-north-4 = http://127.0.0.1:8787',
      'IMSYNC_ENDPOINTS',
    );
    expect([...map]).toEqual([
      ['ap-southeast-1', 'https://ims.example.com'],
      ['cn-north-4', 'http://127.0.0.1:8787'],
    ]);
  });

  it.each([
    ['', 'IMSYNC_ENDPOINTS is empty; give region=URL pairs separated by commas'],
    ['  ', 'IMSYNC_ENDPOINTS is empty'],
    ['ap-southeast-1=https://a.example.com,', 'IMSYNC_ENDPOINTS entry 2 is empty (a comma too many?)'],
    ['ap-southeast-1=https://a.example.com,,cn-north-4=https://b.example.com', 'IMSYNC_ENDPOINTS entry 2 is empty'],
    ['https://a.example.com', "IMSYNC_ENDPOINTS entry 1 has no '='; give region=URL pairs"],
    [
      'ap-southeast1=https://a.example.com',
      `IMSYNC_ENDPOINTS entry 1: "ap-southeast1" before '=' is not a region name`,
    ],
    ['=https://a.example.com', "IMSYNC_ENDPOINTS entry 1: before '=' is not a region name"],
    [
      'cn-north-4=https://a.example.com, cn-north-4=https://b.example.com',
      'IMSYNC_ENDPOINTS entry 2: cn-north-4 is given twice',
    ],
    ['cn-north-4=', "IMSYNC_ENDPOINTS entry 1 (cn-north-4) has nothing after '='"],
    ['cn-north-4=ims.example.com', 'IMSYNC_ENDPOINTS entry 1 (cn-north-4) is not a URL such as https://ims.'],
    ['cn-north-4=https://ims.example.com/v2', 'IMSYNC_ENDPOINTS entry 1 (cn-north-4) has a path (/v2)'],
    ['cn-north-4=ftp://ims.example.com', 'IMSYNC_ENDPOINTS entry 1 (cn-north-4) must be an http(s) URL'],
    [
      'cn-north-4=https://u:hunter2@ims.example.com',
      'IMSYNC_ENDPOINTS entry 1 (cn-north-4) must not carry credentials',
    ],
  ])('refuses %j', (text, message) => {
    expect(settingError(() => parseEndpointMap(text, 'IMSYNC_ENDPOINTS')).message).toContain(message);
  });

  it('never quotes what stands before a misplaced = when it could be a URL with its password', () => {
    const error = settingError(() => parseEndpointMap('https://u:hunter2@ims.example.com/?a=b', 'IMSYNC_ENDPOINTS'));
    expect(error.message).toBe("IMSYNC_ENDPOINTS entry 1: before '=' is not a region name such as ap-southeast-1");
  });
});

describe('parseProjectMap', () => {
  it('reads region=project-id pairs', () => {
    const map = parseProjectMap(
      'ap-southeast-1=0123456789abcdef0123456789abcdef, cn-north-4=fedcba9876543210fedcba9876543210',
      'IMSYNC_PROJECTS',
    );
    expect(map.get('ap-southeast-1')).toBe('0123456789abcdef0123456789abcdef');
    expect(map.get('cn-north-4')).toBe('fedcba9876543210fedcba9876543210');
    expect(map.size).toBe(2);
  });

  it.each([
    ['', 'IMSYNC_PROJECTS is empty; give region=project-id pairs separated by commas'],
    ['0123456789abcdef0123456789abcdef', "IMSYNC_PROJECTS entry 1 has no '='; give region=project-id pairs"],
    ['ap-southeast-1=0123 4567', 'IMSYNC_PROJECTS entry 1 (ap-southeast-1) is not a project id'],
    ['ap-southeast-1=../../etc', 'IMSYNC_PROJECTS entry 1 (ap-southeast-1) is not a project id'],
    [`ap-southeast-1=${'a'.repeat(65)}`, 'IMSYNC_PROJECTS entry 1 (ap-southeast-1) is not a project id'],
    ['ap-southeast-1=a,ap-southeast-1=b', 'IMSYNC_PROJECTS entry 2: ap-southeast-1 is given twice'],
    ['Ap-Southeast-1=abc', `IMSYNC_PROJECTS entry 1: "Ap-Southeast-1" before '=' is not a region name`],
  ])('refuses %j', (text, message) => {
    expect(settingError(() => parseProjectMap(text, 'IMSYNC_PROJECTS')).message).toContain(message);
  });
});
