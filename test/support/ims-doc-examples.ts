// The example bodies of the IMS quick-import documentation page (research/ims-api.md §2.4).
const file = {
  name: 'ims_test_file',
  description: 'Create an image using a file in an OBS bucket.',
  image_url: 'ims-image:centos70.zvhd2',
  min_disk: 40,
};
const system = { ...file, os_version: 'CentOS 7.0 64bit', type: 'ECS' } as const;
const data = { ...file, os_type: 'Linux', type: 'DataImage' } as const;
const tags = ['aaa.111', 'bbb.333', 'ccc.444'];
const imageTags = [
  { key: 'key2', value: 'value2' },
  { key: 'key1', value: 'value1' },
];

export const DOC_EXAMPLES = {
  systemWithTags: { ...system, tags },
  systemWithImageTags: { ...system, image_tags: imageTags },
  dataWithImageTags: { ...data, image_tags: imageTags },
  /** Not on the page (it shows three); the fourth combination, as the page's field table allows it. */
  dataWithTags: { ...data, tags },
  /** The TV5 body of the signing notes: the minimum a system image needs. */
  minimal: { name: file.name, image_url: file.image_url, os_version: system.os_version, min_disk: 40, type: 'ECS' },
};
