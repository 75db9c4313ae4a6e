/** Files in the platform's data directory that the CLI's technician commands read too (without loading the platform). */
export const ADMIN_KEY_FILE = "admin.key";
