// The config form's state of one dashboard item (an integration instance or a widget):
// its module version's config.json, loaded on demand, and the values being edited
// (the item's config with the schema's defaults filled in).
//
//   const { schema, schemaError, config, loadSchema } = useModuleConfig(() => props.widget);
import { ref } from "vue";

import { withDefaults as withDefaultValues } from "../forms/config";
import { type ConfigField, configSchema } from "./api";

interface ConfiguredItem {
  module_id: string;
  version: string;
  config: Record<string, unknown>;
}

export function useModuleConfig(item: () => ConfiguredItem) {
  const schema = ref<ConfigField[] | null>(null);
  const schemaError = ref<unknown>(null);
  const config = ref<Record<string, unknown>>({});

  async function loadSchema(): Promise<void> {
    schemaError.value = null;
    try {
      const { module_id, version, config: values } = item();
      schema.value = await configSchema(module_id, version);
      config.value = withDefaultValues(schema.value, values);
    } catch (caught) {
      schemaError.value = caught;
    }
  }

  return { schema, schemaError, config, loadSchema };
}
