// @ts-check
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { defineTask } from "taskledger";
import { pause } from "../lib/pause.js";
import { dataDir, stepMs } from "../lib/settings.js";

/** Widths of the set, largest first; an image is never enlarged. */
export const WIDTHS = [1280, 800, 480, 240, 120, 64];

export const uploadsDir = join(dataDir, "uploads");
export const imageSetsDir = join(dataDir, "image-sets");

/**
 * The seeds' `create_image_set`: thumbnails of an uploaded image, one WebP per width. Stops
 * at once when canceled, leaving nothing half-made behind.
 *
 * Payload: `{ upload, originalName }` — `upload` is a file name in the uploads directory.
 */
export const createImageSet = defineTask({
  name: "create_image_set",
  timeout: 120_000,
  retry: 0,
  /** @param {{ upload: string, originalName?: string }} input */
  async run(input, ctx) {
    if (!/^[\w-]+\.\w+$/.test(input.upload)) throw new Error(`not an upload: ${input.upload}`);
    const source = join(uploadsDir, input.upload);
    const target = join(imageSetsDir, String(ctx.id));
    const original = await sharp(source).metadata();
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    try {
      const images = [];
      const widths = WIDTHS.filter((w) => w <= (original.width ?? 0) || w === WIDTHS.at(-1));
      for (const [index, width] of widths.entries()) {
        await pause(stepMs, ctx.signal);
        const file = `${width}w.webp`;
        const info = await sharp(source)
          .resize({ width, withoutEnlargement: true })
          .webp({ quality: 82 })
          .toFile(join(target, file));
        images.push({ file, width: info.width, height: info.height, bytes: info.size });
        await ctx.setProgress(Math.round((100 * (index + 1)) / (widths.length + 1)));
      }
      return {
        originalName: input.originalName ?? input.upload,
        original: { width: original.width, height: original.height, format: original.format },
        images,
      };
    } catch (error) {
      await rm(target, { recursive: true, force: true });
      throw error;
    }
  },
});
